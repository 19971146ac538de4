app_name = "leads"

urlpatterns = []
