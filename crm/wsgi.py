import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
application = get_wsgi_application()

# What the process holds once Django is set up (the modules, models, forms, registries: about
# 300,000 objects) lives as long as the process. Left to the collector, every full collection
# walks all of it again, a pause of about 100 ms in whichever request it falls; frozen, the
# collector skips it (README, "Pages at a million rows", the ninth round).
gc.collect()
gc.freeze()
