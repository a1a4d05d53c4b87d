"""``mlflow-monitor serve``: a monitored model behind HTTP, in one or several workers.

:mod:`~mlflow_monitor.serving.app` is the FastAPI app (MLflow's scoring protocol plus the
monitoring endpoints); :mod:`~mlflow_monitor.serving.server` runs it under uvicorn.
"""
