"""The processing backend: what Sfumato runs on, the status-bar field, Help › Processing
Backend and the runtime installer."""
