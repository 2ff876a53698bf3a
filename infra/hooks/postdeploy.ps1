# azd postdeploy hook (Windows). The same steps as postdeploy.sh: 1: upload the worker
# package that the Batch pool's start task installs. 2: once the function host has made its
# blobs_extension key, subscribe the blob trigger to BlobCreated events on the incoming
# container. Safe to run again. The key is a secret: it is never printed.
$ErrorActionPreference = 'Stop'

# The blob trigger's function name in function_app.py (tests/infra keeps the two equal).
$FunctionName = 'on_blob'
$SubscriptionName = 'dropbatch-incoming'

foreach ($tool in @('az', 'azd', 'python')) {
  if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
    Write-Error "postdeploy: $tool is not installed (see docs/deploy.md)"
  }
}

if (-not $env:AZURE_FUNCTION_APP_NAME) {
  # Older azd versions do not pass the environment's values to hooks.
  foreach ($line in (& azd env get-values)) {
    if ($line -match '^([^=]+)=(.*)$') {
      [Environment]::SetEnvironmentVariable($matches[1], ($matches[2] -replace '^"|"$'))
    }
  }
}
foreach ($name in @('AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'AZURE_FUNCTION_APP_HOST',
    'AZURE_STORAGE_ACCOUNT_NAME', 'AZURE_EVENTGRID_SYSTEM_TOPIC', 'DROPBATCH_CONTAINER_INCOMING',
    'WORKER_PACKAGE_CONTAINER', 'WORKER_PACKAGE_BLOB')) {
  if (-not [Environment]::GetEnvironmentVariable($name)) {
    Write-Error "postdeploy: $name is not set; run azd provision first"
  }
}

# Role assignments and the host's key take a while to appear.
function Invoke-WithRetry([int]$Tries, [int]$Pause, [scriptblock]$Action) {
  for ($n = 1; $n -le $Tries; $n++) {
    $result = & $Action
    if ($LASTEXITCODE -eq 0 -and $result -ne $false) { return $result }
    if ($n -lt $Tries) {
      Write-Host "postdeploy: not ready yet (try $n of $Tries); waiting ${Pause}s"
      Start-Sleep -Seconds $Pause
    }
  }
  throw "postdeploy: gave up after $Tries tries"
}

$dir = Join-Path ([IO.Path]::GetTempPath()) ([Guid]::NewGuid())
New-Item -ItemType Directory -Path $dir | Out-Null
$package = Join-Path $dir 'dropbatch.zip'
python (Join-Path $PSScriptRoot 'worker_package.py') $package
if ($LASTEXITCODE -ne 0) { throw 'postdeploy: could not write the worker package' }
Invoke-WithRetry 10 30 {
  az storage blob upload --auth-mode login --only-show-errors -o none `
    --account-name $env:AZURE_STORAGE_ACCOUNT_NAME --container-name $env:WORKER_PACKAGE_CONTAINER `
    --name $env:WORKER_PACKAGE_BLOB --file $package --overwrite true
} | Out-Null
Remove-Item -Recurse -Force $dir
Write-Host "postdeploy: worker package uploaded to $env:WORKER_PACKAGE_CONTAINER/$env:WORKER_PACKAGE_BLOB"

$key = Invoke-WithRetry 20 15 {
  $k = az functionapp keys list -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_APP_NAME `
    --query systemKeys.blobs_extension -o tsv 2>$null
  if ($k) { $k } else { $false }
}

# A burst's events arrive a batch per request (the host queues each one), not a request each.
$EventsPerBatch = 32
$endpoint = "https://$($env:AZURE_FUNCTION_APP_HOST)/runtime/webhooks/blobs?functionName=Host.Functions.$FunctionName&code=$key"
# Quoted so that az does not split the URL at '&'.
az eventgrid system-topic event-subscription create --only-show-errors -o none `
  -g $env:AZURE_RESOURCE_GROUP --system-topic-name $env:AZURE_EVENTGRID_SYSTEM_TOPIC `
  -n $SubscriptionName --endpoint-type webhook --endpoint "`"$endpoint`"" `
  --included-event-types Microsoft.Storage.BlobCreated `
  --max-events-per-batch $EventsPerBatch `
  --subject-begins-with "/blobServices/default/containers/$($env:DROPBATCH_CONTAINER_INCOMING)/"
if ($LASTEXITCODE -ne 0) { throw 'postdeploy: could not create the Event Grid subscription' }
Write-Host "postdeploy: $($env:AZURE_EVENTGRID_SYSTEM_TOPIC)/$SubscriptionName sends BlobCreated on $($env:DROPBATCH_CONTAINER_INCOMING) to $FunctionName"
