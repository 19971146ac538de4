from allauth.account.forms import LoginForm as AllauthLoginForm


class LoginForm(AllauthLoginForm):
    """allauth's sign-in form, its "username or email" box posted as ``username`` (the name
    browsers' password managers and scripts that sign in expect)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Username or email"
        self.fields["login"].widget.attrs["autocomplete"] = "username"

    def add_prefix(self, field_name):
        return "username" if field_name == "login" else super().add_prefix(field_name)
