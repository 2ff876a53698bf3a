"""The operators' status page: templates, static files, and the HTTP responses the function
app returns for them."""
