app_name = "support"

urlpatterns = []
