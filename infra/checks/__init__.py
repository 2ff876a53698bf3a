"""checkov checks for what its built-in Bicep checks miss (loaded with --external-checks-dir)."""
