// The Batch pool's user-assigned identity: the worker reaches storage, Cosmos DB and
// Application Insights with it (DROPBATCH_WORKER_IDENTITY_CLIENT_ID).
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
