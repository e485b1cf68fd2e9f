"""The security regression suite as a product feature: hostile programs with their expected outcomes.

``programs/`` holds the containment corpus (SECURITY-BAR section 3), ``bypasses/``
the policy-bypass rows; each file's header says what it attacks and what must
happen. They ship inside the package so that ``sandbox selftest`` can run them
against any deployment after an upgrade of the kernel, Docker or the images.
"""
