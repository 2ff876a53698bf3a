"""A local managed identity endpoint for the keyless stack: it issues signed access tokens
for the function app's identity (the App Service protocol) and for the Batch pool's
user-assigned identity (the instance metadata protocol), so that the identity paths of the
app and the worker run before anyone reaches Azure. See `server` for the protocols and
`tokens` for the tokens and how the local services verify them."""
