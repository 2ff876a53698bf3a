// Every data-plane permission, by identity (built-in role ids; see docs/deploy.md).
param storageAccountName string
param batchAccountName string
param cosmosAccountName string
param appInsightsName string
@description('The function app\'s system-assigned identity.')
param appPrincipalId string
@description('The Batch pool\'s user-assigned identity (the worker).')
param workerPrincipalId string
@description('The person or pipeline operating dropbatch; empty: no grant.')
param operatorPrincipalId string
param operatorPrincipalType string

var role = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  batchDataContributor: '6aaa78f1-f7de-44ca-8722-c64a23943cae'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
// Cosmos DB's built-in Data Contributor (a data-plane role, not an Azure RBAC role).
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'
var withOperator = !empty(operatorPrincipalId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' existing = {
  name: batchAccountName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var storageGrants = [
  { principalId: appPrincipalId, type: 'ServicePrincipal', role: role.storageBlobDataOwner }
  { principalId: appPrincipalId, type: 'ServicePrincipal', role: role.storageQueueDataContributor }
  { principalId: workerPrincipalId, type: 'ServicePrincipal', role: role.storageBlobDataContributor }
]
var operatorStorageGrants = withOperator ? [
  { principalId: operatorPrincipalId, type: operatorPrincipalType, role: role.storageBlobDataContributor }
  { principalId: operatorPrincipalId, type: operatorPrincipalType, role: role.storageQueueDataContributor }
] : []

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for grant in concat(storageGrants, operatorStorageGrants): {
    name: guid(storage.id, grant.principalId, grant.role)
    scope: storage
    properties: {
      principalId: grant.principalId
      principalType: grant.type
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', grant.role)
    }
  }
]

resource appBatchRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(batch.id, appPrincipalId, role.batchDataContributor)
  scope: batch
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.batchDataContributor)
  }
}

resource operatorBatchRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withOperator) {
  name: guid(batch.id, operatorPrincipalId, role.batchDataContributor)
  scope: batch
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.batchDataContributor)
  }
}

resource metricsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [appPrincipalId, workerPrincipalId]: {
    name: guid(appInsights.id, principalId, role.monitoringMetricsPublisher)
    scope: appInsights
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.monitoringMetricsPublisher)
    }
  }
]

resource cosmosRoles 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [
  for principalId in concat([appPrincipalId, workerPrincipalId], withOperator ? [operatorPrincipalId] : []): {
    parent: cosmos
    name: guid(cosmos.id, principalId, cosmosDataContributor)
    properties: {
      principalId: principalId
      roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
      scope: cosmos.id
    }
  }
]
