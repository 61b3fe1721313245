"""The screens reach the app only through :class:`deploytui.tui.services.Dashboard`, and the app has it all.

The screens and the command palette do not import ``tui/app.py`` (that would close an import
circle); these tests keep the protocol and its two sides in step: the app offers every member, and
nothing in the screens, their actions or the palette asks the dashboard for anything else.
"""

from __future__ import annotations

import ast
from pathlib import Path

from deploytui.tui import services
from deploytui.tui.app import DeploytuiApp
from deploytui.tui.services import Dashboard

TUI_DIR = Path(services.__file__).parent
USERS = [*sorted((TUI_DIR / "screens").glob("*.py")), TUI_DIR / "commands.py"]


def protocol_members() -> set[str]:
    tree = ast.parse(Path(services.__file__).read_text(encoding="utf-8"))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Dashboard"]
    members = {node.target.id for node in cls.body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
    return members | {node.name for node in cls.body if isinstance(node, ast.FunctionDef)}


def dashboard_uses(source: str) -> set[str]:
    """The attributes read of the dashboard in ``source``: of ``self.dash``, of a name given
    ``self.dash``, and of a name or parameter annotated ``Dashboard``."""
    tree = ast.parse(source)

    def is_self_dash(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "dash"
                and isinstance(node.value, ast.Name) and node.value.id == "self")

    def annotated(annotation: ast.AST | None) -> bool:
        return isinstance(annotation, ast.Name) and annotation.id == "Dashboard" or (
            isinstance(annotation, ast.Constant) and annotation.value == "Dashboard")

    names = {arg.arg for node in ast.walk(tree) if isinstance(node, ast.arguments)
             for arg in node.args + node.kwonlyargs if annotated(arg.annotation)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and is_self_dash(node.value):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and annotated(node.annotation):
            names.add(node.target.id)
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and (is_self_dash(node.value) or isinstance(node.value, ast.Name) and node.value.id in names)}


def test_the_app_offers_every_member_of_the_protocol() -> None:
    app = DeploytuiApp(client=object(), demos=list)
    assert isinstance(app, Dashboard)
    missing = [name for name in protocol_members() if not hasattr(app, name)]
    assert not missing


def test_the_screens_and_the_palette_ask_the_dashboard_only_for_what_the_protocol_has() -> None:
    members = protocol_members()
    used: dict[str, set[str]] = {path.name: dashboard_uses(path.read_text(encoding="utf-8")) for path in USERS}
    assert all(used[name] for name in ("deployment.py", "deployments.py", "deploy_form.py", "commands.py"))
    beyond = {name: sorted(attrs - members) for name, attrs in used.items() if attrs - members}
    assert not beyond, f"add these to tui/services.Dashboard (or stop using them): {beyond}"


def test_the_use_finder_sees_self_dash_aliases_and_annotated_parameters() -> None:
    source = (
        "def f(self, dash: Dashboard, other):\n"
        "    app = self.dash\n"
        "    x: Dashboard = self.app\n"
        "    return self.dash.now, app.api, dash.demos, x.animate, other.ignored, self.app.size\n"
    )
    assert dashboard_uses(source) == {"now", "api", "demos", "animate"}
