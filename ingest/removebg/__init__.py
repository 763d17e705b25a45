"""remove.bg's API (``POST /v1.0/removebg``, ``GET /v1.0/account``) on cutout's jobs:
params.py maps the parameters, sources.py reads the images, endpoint.py admits, submits
and waits, responses.py writes remove.bg's answers and errors."""
