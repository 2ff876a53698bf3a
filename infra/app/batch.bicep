// The Batch account (Entra-only) and its pool. The pool is declared here, not created by
// dropbatch: only the management plane can give a pool a managed identity.
param name string
param location string
param tags object
param poolId string
param vmSize string
param maxNodes int
param taskSlotsPerNode int
@description('Resource id of the worker\'s user-assigned identity.')
param workerIdentityId string
@description('Blob URL of the worker package the start task installs (read with the pool identity).')
param workerPackageUrl string
@description('Client id of the worker identity: the worker sends telemetry with it (Entra auth).')
param workerIdentityClientId string
@description('Application Insights connection string (not a secret: ingestion needs Entra tokens).')
param appInsightsConnectionString string

// The same formula as batch_core.batch_service.autoscale_formula: nodes follow the pending
// tasks, at most maxNodes, none when idle (an idle pool costs nothing).
var autoScaleFormula = join([
  '$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);'
  '$recent = max(0, $PendingTasks.GetSample(1));'
  '$tasks = $samples < 70 ? $recent : max($recent, avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));'
  '$TargetDedicatedNodes = min(${maxNodes}, ceil($tasks / ${taskSlotsPerNode}));'
  '$NodeDeallocationOption = taskcompletion;'
], '\n')
// Installs this project (batch_core and worker) into a virtual environment shared by the
// node's tasks; DROPBATCH_WORKER_COMMAND runs its python.
var venv = '$AZ_BATCH_NODE_SHARED_DIR/dropbatch/venv'
var installWorker = join([
  'set -eu'
  'export DEBIAN_FRONTEND=noninteractive'
  'apt-get -o DPkg::Lock::Timeout=600 update -q'
  'apt-get -o DPkg::Lock::Timeout=600 install -y -q python3-venv'
  'rm -rf "${venv}"'
  'python3 -m venv "${venv}"'
  '"${venv}/bin/pip" install --quiet --disable-pip-version-check ./dropbatch.zip'
  // The node's credentials file (worker/credentials.py) holds no key: only where the worker
  // sends its telemetry, and that it signs in with the pool identity.
  '"${venv}/bin/python" -m worker.nodefile'
], '; ')

resource account 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    poolAllocationMode: 'BatchService'
    allowedAuthenticationModes: ['AAD']
    publicNetworkAccess: 'Enabled'
  }
}

resource pool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: account
  name: poolId
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${workerIdentityId}': {}
    }
  }
  properties: {
    vmSize: vmSize
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: {
          publisher: 'canonical'
          offer: 'ubuntu-24_04-lts'
          sku: 'server'
          version: 'latest'
        }
        nodeAgentSkuId: 'batch.node.ubuntu 24.04'
      }
    }
    taskSlotsPerNode: taskSlotsPerNode
    targetNodeCommunicationMode: 'Simplified'
    scaleSettings: {
      autoScale: {
        formula: autoScaleFormula
        evaluationInterval: 'PT5M'
      }
    }
    startTask: {
      commandLine: '/bin/bash -c \'${installWorker}\''
      resourceFiles: [
        {
          httpUrl: workerPackageUrl
          filePath: 'dropbatch.zip'
          identityReference: { resourceId: workerIdentityId }
        }
      ]
      environmentSettings: [
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD;ClientId=${workerIdentityClientId}'
        }
      ]
      userIdentity: {
        autoUser: { scope: 'Pool', elevationLevel: 'Admin' }
      }
      maxTaskRetryCount: 2
      waitForSuccess: true
    }
  }
}

output name string = account.name
output url string = 'https://${account.properties.accountEndpoint}'
output poolId string = pool.name
@description('DROPBATCH_WORKER_COMMAND: the python of the virtual environment the start task made.')
output workerCommand string = '/bin/bash -c \'"${venv}/bin/python" -m worker\''
