// Cosmos DB for NoSQL, serverless, Entra-only. The database and containers are declared here:
// data-plane RBAC cannot create them (`dropbatch init` is for the local stack only).
// Partition keys are the ones batch_core.cosmosdb.CONTAINERS and the worker use.
param name string
param location string
param tags object
param databaseName string

var containers = [
  { name: 'runs', partitionKey: '/id' }
  { name: 'records', partitionKey: '/pk' }
  { name: 'alerts', partitionKey: '/id' }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [{ name: 'EnableServerless' }]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [{ locationName: location, failoverPriority: 0, isZoneRedundant: false }]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [
  for container in containers: {
    parent: database
    name: container.name
    properties: {
      resource: {
        id: container.name
        partitionKey: { paths: [container.partitionKey], kind: 'Hash' }
      }
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
