"""What the unit and integration tests share.

- ``ports``, ``processes``: a free loopback port; a service subprocess in its own process group.
- ``mlflow_server``, ``monitor_server``, ``prometheus``, ``postgres``: the real services.
- ``services``: skip (or, in CI, fail) when a service a test needs is not installed.
- ``http``: JSON over HTTP on a new connection.
- ``serve_app``: the serve app of a wrapped model in-process, recording into the test's store,
  and a test client of it.
- ``paths``: where things are in the repository; loading a script there as a module.
- ``reviews``: the example review detector (``examples/reviews_data.py``) and ``wrap_example``.
- ``streams``: a client streaming predictions at a server, and what the store holds.
- ``check_runs``: check results and MLflow queries of the check-run tests.
- ``dashboards``: the committed dashboard and rules, and walking their queries.
- ``benchmarks``: code of ``benchmarks/`` the tests run.
"""
