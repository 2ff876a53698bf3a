"""A local Azure Functions host for the v2 Python programming model.

It loads ``function_app.py`` the way the real host does and serves its blob and timer
triggers with the real host's storage protocol: blob receipts and a work queue in the
host storage account, a poison queue after ``maxDequeueCount`` failures, and timer
schedule status blobs so a missed occurrence runs once, past due, after a restart.
Run it with ``python -m devstack.funchost --app-dir DIR``.
"""
