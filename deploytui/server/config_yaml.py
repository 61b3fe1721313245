"""Reading a component's ``config.yaml``: YAML's safe loader, hardened against hostile input.

Its own module so that PyYAML (about 15 ms to import) is loaded when a config is first checked,
not every time a server starts.
"""

from __future__ import annotations

from typing import Any

import yaml

# Nesting deeper than this is refused: real configs are a few levels deep.
MAX_CONFIG_DEPTH = 64


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader (plain data only), refusing nesting past :data:`MAX_CONFIG_DEPTH` and a
    key given twice in one mapping (which Harper's YAML parser refuses too; PyYAML would keep the
    last one silently).

    Pure Python on purpose: libyaml's composer recurses in C, and a config nested some ten thousand
    levels deep crashed the whole server with it. Stopping early also keeps hostile nesting cheap
    (the scanner's cost grows with the square of the flow depth).
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_CONFIG_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: Any) -> None:
        """Resolve ``<<`` merges keeping one pair per key (the one that wins), so that merges of
        merges stay linear: PyYAML keeps every copy, and 30 levels of nine-fold merges would take
        9^30 pairs."""
        super().flatten_mapping(node)
        winners: dict[Any, int] = {}
        for position, (key_node, _) in enumerate(node.value):
            if isinstance(key_node, yaml.ScalarNode):
                winners[(key_node.tag, key_node.value)] = position  # a later pair overrides
        node.value = [pair for position, pair in enumerate(node.value)
                      if not isinstance(pair[0], yaml.ScalarNode) or winners[(pair[0].tag, pair[0].value)] == position]

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen = set()
        for key_node, _ in node.value:  # the keys as written: '<<' merges may be overridden
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                    )
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


class YamlProblem(ValueError):
    """The text is not YAML the loader accepts; the message names the file, line and column."""


def load_config(text: str, name: str) -> Any:
    """Parse ``text`` (the file ``name``) with :class:`_ConfigLoader`; raises :class:`YamlProblem`."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name} line {mark.line + 1} column {mark.column + 1}" if mark else name
        raise YamlProblem(f"{where}: {exc.problem or exc.context or 'invalid YAML'}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"{name} is not valid YAML: {exc}") from None
