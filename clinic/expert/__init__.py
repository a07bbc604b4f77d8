"""The medical expert she names (docs/design.md section 4): an account limited to
one case and a period, opened by an examiner of her case where her photo consent
names that person, that sees only the photographs her consent lets the expert see."""
