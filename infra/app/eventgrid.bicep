// The storage account's Event Grid system topic (one per account). Its BlobCreated
// subscription to the blob trigger is made by the postdeploy hook, once the host has
// started and created its blobs_extension key.
param name string
param location string
param tags object
param storageAccountId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = topic.name
