"""Screens of the dashboard: the deployments list, a deployment's detail, the deploy form, modals."""
