"""Monitoring and continuous improvement: drift alarms, a simulated deployment, the
champion/challenger gate and the model registry file."""
