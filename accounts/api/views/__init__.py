"""accounts' HTTP interfaces, one module per capability (as accounts/services/ is); the
URLs in accounts/api/urls.py name them. The lean GET /v1/users/me is in accounts/api/fast.py."""
