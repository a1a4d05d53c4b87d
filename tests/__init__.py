"""The tests of mlflow-monitor: unit/ (in-process), integration/ (real services), support/."""
