"""The admin's commands (`sudo tljh-config ...`): edit config.yaml and apply it to the running hub."""
