"""The jupyter_server extension: the app, thin REST handlers, the dashboard proxy, push events and
the kernels' dashboard link."""
