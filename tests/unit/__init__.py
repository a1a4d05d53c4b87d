"""In-process tests: SQLite files, MLflow's embedded SQLite store, FastAPI's test client."""
