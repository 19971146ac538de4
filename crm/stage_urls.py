"""URLs of the lifecycle stages, mounted by crm.urls; each app adds its own include here."""

urlpatterns = []
