"""Campaigns handed to the tools physicists already use: an Optuna journal file
(optuna-dashboard, optuna.visualization) and MLflow. Each importer is optional and lazy."""
