// dropbatch on Azure: every resource, keyless (identities and RBAC only), for `azd up`.
// The Event Grid subscription to the blob trigger needs the host's blobs_extension key,
// which exists only once the code runs: infra/hooks/postdeploy.* creates it.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person or pipeline running azd: given data access to operate dropbatch (upload files, `dropbatch status`). Empty: none.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Batch pool VM size.')
param vmSize string = 'standard_d2s_v3'

@minValue(1)
@maxValue(100)
@description('Most nodes the pool autoscales to (it scales to zero when idle).')
param maxNodes int = 2

@minValue(1)
@maxValue(64)
param taskSlotsPerNode int = 2

@description('NCRONTAB schedule of the reconcile timer.')
param reconcileSchedule string = '0 */5 * * * *'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var names = {
  storage: 'st${resourceToken}'
  functionApp: 'func-${resourceToken}'
  plan: 'plan-${resourceToken}'
  batch: 'ba${resourceToken}'
  cosmos: 'cosmos-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  appInsights: 'appi-${resourceToken}'
  workerIdentity: 'id-worker-${resourceToken}'
  systemTopic: 'evgt-${resourceToken}'
}
var containers = {
  incoming: 'incoming'
  results: 'results'
  logs: 'logs'
  failed: 'failed'
  archive: 'archive'
  config: 'config'
  deployment: 'app-package-${resourceToken}'
}
var poolId = 'dropbatch'
var cosmosDatabase = 'dropbatch'
// Where the postdeploy hook uploads the worker package that the pool's start task installs.
var workerPackageBlob = 'worker/dropbatch.zip'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module workerIdentity 'app/identity.bicep' = {
  name: 'worker-identity'
  scope: rg
  params: {
    name: names.workerIdentity
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    containers: [
      containers.incoming
      containers.results
      containers.logs
      containers.failed
      containers.archive
      containers.config
      containers.deployment
    ]
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: names.cosmos
    location: location
    tags: tags
    databaseName: cosmosDatabase
  }
}

module batch 'app/batch.bicep' = {
  name: 'batch'
  scope: rg
  params: {
    name: names.batch
    location: location
    tags: tags
    poolId: poolId
    vmSize: vmSize
    maxNodes: maxNodes
    taskSlotsPerNode: taskSlotsPerNode
    workerIdentityId: workerIdentity.outputs.id
    workerIdentityClientId: workerIdentity.outputs.clientId
    appInsightsConnectionString: monitoring.outputs.connectionString
    workerPackageUrl: '${storage.outputs.blobEndpoint}${containers.config}/${workerPackageBlob}'
  }
}

module functionApp 'app/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: union(tags, { 'azd-service-name': 'app' })
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${containers.deployment}'
    appInsightsConnectionString: monitoring.outputs.connectionString
    batchUrl: batch.outputs.url
    batchAccount: batch.outputs.name
    poolId: poolId
    vmSize: vmSize
    maxNodes: maxNodes
    taskSlotsPerNode: taskSlotsPerNode
    workerCommand: batch.outputs.workerCommand
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmosDatabase
    containerIncoming: containers.incoming
    containerResults: containers.results
    containerLogs: containers.logs
    containerFailed: containers.failed
    containerArchive: containers.archive
    workerIdentityClientId: workerIdentity.outputs.clientId
    reconcileSchedule: reconcileSchedule
  }
}

module roles 'app/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    batchAccountName: batch.outputs.name
    cosmosAccountName: cosmos.outputs.name
    appInsightsName: monitoring.outputs.name
    appPrincipalId: functionApp.outputs.principalId
    workerPrincipalId: workerIdentity.outputs.principalId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: names.systemTopic
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
  }
}

// Read by azd, the postdeploy hook and docs/deploy.md. The DROPBATCH_* and
// AzureWebJobsStorage__accountName outputs are named like the settings, so that
// `azd env get-values` can be loaded as the environment of the `dropbatch` command line.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_EVENTGRID_SYSTEM_TOPIC string = eventGrid.outputs.name
output AZURE_BATCH_ACCOUNT_NAME string = batch.outputs.name
output AZURE_COSMOS_ACCOUNT_NAME string = cosmos.outputs.name
output WORKER_PACKAGE_CONTAINER string = containers.config
output WORKER_PACKAGE_BLOB string = workerPackageBlob
output AzureWebJobsStorage__accountName string = storage.outputs.name
output DROPBATCH_BATCH_URL string = batch.outputs.url
output DROPBATCH_BATCH_ACCOUNT string = batch.outputs.name
output DROPBATCH_BATCH_POOL_ID string = poolId
output DROPBATCH_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output DROPBATCH_COSMOS_DATABASE string = cosmosDatabase
output DROPBATCH_CONTAINER_INCOMING string = containers.incoming
output DROPBATCH_CONTAINER_RESULTS string = containers.results
output DROPBATCH_CONTAINER_LOGS string = containers.logs
output DROPBATCH_CONTAINER_FAILED string = containers.failed
output DROPBATCH_CONTAINER_ARCHIVE string = containers.archive
output DROPBATCH_WORKER_IDENTITY_CLIENT_ID string = workerIdentity.outputs.clientId
