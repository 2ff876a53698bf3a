// The function app on Flex Consumption: a system-assigned identity, identity-based host
// storage, and exactly the settings batch_core.settings requires (tests/infra checks both
// ways: every required setting is here, and every name here is one the code reads).
param name string
param planName string
param location string
param tags object
param storageAccountName string
param deploymentContainerUrl string
@secure()
param appInsightsConnectionString string
param batchUrl string
param batchAccount string
param poolId string
param vmSize string
param maxNodes int
param taskSlotsPerNode int
param workerCommand string
param cosmosEndpoint string
param cosmosDatabase string
param containerIncoming string
param containerResults string
param containerLogs string
param containerFailed string
param containerArchive string
param workerIdentityClientId string
param reconcileSchedule string
@description('Instances the app may scale out to (it scales to zero when idle).')
param maximumInstanceCount int = 40

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      http20Enabled: true
      // Telemetry: host.json's telemetryMode is OpenTelemetry and the Python worker sends the
      // app's spans, metrics and logs. The Azure SDKs' per-request spans and logs stay out; to
      // see them, empty OTEL_PYTHON_DISABLED_INSTRUMENTATIONS and set the SDK logs setting.
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
        { name: 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS', value: 'azure_sdk,requests,urllib,urllib3' }
        { name: 'DROPBATCH_TELEMETRY_SDK_LOGS', value: 'false' }
        { name: 'DROPBATCH_BATCH_URL', value: batchUrl }
        { name: 'DROPBATCH_BATCH_ACCOUNT', value: batchAccount }
        { name: 'DROPBATCH_BATCH_POOL_ID', value: poolId }
        { name: 'DROPBATCH_BATCH_VM_SIZE', value: vmSize }
        { name: 'DROPBATCH_BATCH_MAX_NODES', value: string(maxNodes) }
        { name: 'DROPBATCH_BATCH_TASK_SLOTS_PER_NODE', value: string(taskSlotsPerNode) }
        { name: 'DROPBATCH_COSMOS_ENDPOINT', value: cosmosEndpoint }
        { name: 'DROPBATCH_COSMOS_DATABASE', value: cosmosDatabase }
        { name: 'DROPBATCH_CONTAINER_INCOMING', value: containerIncoming }
        { name: 'DROPBATCH_CONTAINER_RESULTS', value: containerResults }
        { name: 'DROPBATCH_CONTAINER_LOGS', value: containerLogs }
        { name: 'DROPBATCH_CONTAINER_FAILED', value: containerFailed }
        { name: 'DROPBATCH_CONTAINER_ARCHIVE', value: containerArchive }
        { name: 'DROPBATCH_WORKER_COMMAND', value: workerCommand }
        { name: 'DROPBATCH_WORKER_IDENTITY_CLIENT_ID', value: workerIdentityClientId }
        { name: 'DROPBATCH_RECONCILE_SCHEDULE', value: reconcileSchedule }
        // Files landing together are planned side by side and go to Batch in one request:
        // the worker's widest thread pool lets a burst fill those groups.
        { name: 'PYTHON_THREADPOOL_THREAD_COUNT', value: '32' }
      ]
    }
  }
}

// No FTP and no basic-auth publishing: azd deploys with an Entra token.
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output principalId string = site.identity.principalId
