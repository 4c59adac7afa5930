"""zre_conformance: drive any ZRE implementation through conformance scenarios (spec/conformance.md)."""
