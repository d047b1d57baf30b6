pytest_plugins = ["docuvault.devstack.pytest_plugin"]
