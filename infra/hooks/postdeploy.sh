#!/bin/sh
# azd postdeploy hook (posix). 1: upload the worker package that the Batch pool's start task
# installs. 2: once the function host has started and made its blobs_extension key, subscribe
# the blob trigger to BlobCreated events on the incoming container. Safe to run again.
# The key is a secret: it is never printed.
set -eu

# The blob trigger's function name in function_app.py (tests/infra keeps the two equal).
FUNCTION_NAME=on_blob
SUBSCRIPTION_NAME=dropbatch-incoming

for tool in az azd python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "postdeploy: $tool is not installed (see docs/deploy.md)" >&2; exit 1; }
done

if [ -z "${AZURE_FUNCTION_APP_NAME:-}" ]; then
  # Older azd versions do not pass the environment's values to hooks.
  tmp_env=$(mktemp)
  azd env get-values > "$tmp_env"
  while IFS='=' read -r key value; do
    value=$(printf '%s' "$value" | sed 's/^"//; s/"$//')
    export "$key=$value"
  done < "$tmp_env"
  rm -f "$tmp_env"
fi
: "${AZURE_RESOURCE_GROUP:?postdeploy: AZURE_RESOURCE_GROUP is not set; run azd provision first}"
: "${AZURE_FUNCTION_APP_NAME:?}" "${AZURE_FUNCTION_APP_HOST:?}" "${AZURE_STORAGE_ACCOUNT_NAME:?}"
: "${AZURE_EVENTGRID_SYSTEM_TOPIC:?}" "${DROPBATCH_CONTAINER_INCOMING:?}"
: "${WORKER_PACKAGE_CONTAINER:?}" "${WORKER_PACKAGE_BLOB:?}"

# retry TRIES SECONDS COMMAND...: role assignments and the host's key take a while to appear.
retry() {
  tries=$1; pause=$2; shift 2
  n=1
  until "$@"; do
    [ "$n" -ge "$tries" ] && return 1
    echo "postdeploy: not ready yet (try $n of $tries); waiting ${pause}s" >&2
    n=$((n + 1)); sleep "$pause"
  done
}

here=$(cd "$(dirname "$0")" && pwd)
package=$(mktemp -d)/dropbatch.zip
python3 "$here/worker_package.py" "$package"
retry 10 30 az storage blob upload --auth-mode login --only-show-errors -o none \
  --account-name "$AZURE_STORAGE_ACCOUNT_NAME" --container-name "$WORKER_PACKAGE_CONTAINER" \
  --name "$WORKER_PACKAGE_BLOB" --file "$package" --overwrite true
rm -rf "$(dirname "$package")"
echo "postdeploy: worker package uploaded to $WORKER_PACKAGE_CONTAINER/$WORKER_PACKAGE_BLOB"

blobs_key() {
  key=$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --query systemKeys.blobs_extension -o tsv 2>/dev/null) && [ -n "$key" ]
}
retry 20 15 blobs_key || { echo "postdeploy: the host has no blobs_extension key yet; run azd deploy again" >&2; exit 1; }

# A burst's events arrive a batch per request (the host queues each one), not a request each.
EVENTS_PER_BATCH=32
endpoint="https://$AZURE_FUNCTION_APP_HOST/runtime/webhooks/blobs?functionName=Host.Functions.$FUNCTION_NAME&code=$key"
az eventgrid system-topic event-subscription create --only-show-errors -o none \
  -g "$AZURE_RESOURCE_GROUP" --system-topic-name "$AZURE_EVENTGRID_SYSTEM_TOPIC" \
  -n "$SUBSCRIPTION_NAME" --endpoint-type webhook --endpoint "$endpoint" \
  --included-event-types Microsoft.Storage.BlobCreated \
  --max-events-per-batch "$EVENTS_PER_BATCH" \
  --subject-begins-with "/blobServices/default/containers/$DROPBATCH_CONTAINER_INCOMING/"
echo "postdeploy: $AZURE_EVENTGRID_SYSTEM_TOPIC/$SUBSCRIPTION_NAME sends BlobCreated on $DROPBATCH_CONTAINER_INCOMING to $FUNCTION_NAME"
