"""Finding a page through the top navigation in a browser: entries sit in menus named for jobs
(``crm.registry.NAV_GROUPS``); on a narrow screen the menus are in a side panel first."""


def nav_open(page, group: str, label: str) -> None:
    """Opens the entry ``label`` of the menu ``group`` (its key: "sell", "customers"...)."""
    toggler = page.locator("nav .navbar-toggler")
    if toggler.is_visible():
        toggler.click()
        page.locator("#nav.show").wait_for()
    page.click(f"[data-nav-group={group}]")
    menu = page.locator(f"[data-nav-group={group}] + .dropdown-menu")
    menu.get_by_role("link", name=label, exact=True).click()


def user_menu_open(page, item: str) -> None:
    """Chooses ``item`` ("Your settings", "Sign out"...) in the user menu."""
    page.click("#user-menu")
    page.locator("#user-menu + .dropdown-menu").get_by_text(item, exact=True).click()
