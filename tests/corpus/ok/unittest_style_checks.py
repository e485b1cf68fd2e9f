"""A small function under unittest: TestCase asserts, subTest, setUp, run programmatically."""

import io
import unittest


def slugify(text):
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    return "-".join(words)


class SlugifyTest(unittest.TestCase):
    def setUp(self):
        self.cases = {"Hello World": "hello-world", "  A  b ": "a-b", "C++ & Rust!": "c-rust", "": ""}

    def test_cases(self):
        for text, expected in self.cases.items():
            with self.subTest(text=text):
                self.assertEqual(slugify(text), expected)

    def test_idempotent(self):
        for text in self.cases:
            self.assertEqual(slugify(slugify(text)), slugify(text))

    def test_types(self):
        self.assertIsInstance(slugify("x"), str)
        self.assertIn("-", slugify("a b"))
        self.assertNotIn(" ", slugify("a b c"))
        self.assertTrue(slugify("ABC").islower())
        with self.assertRaises(TypeError):
            slugify(None)

    @unittest.skip("demonstrates skipping")
    def test_skipped(self):
        self.fail("never runs")


suite = unittest.defaultTestLoader.loadTestsFromTestCase(SlugifyTest)
stream = io.StringIO()
result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
print(stream.getvalue().strip().splitlines()[-1])
print("ran", result.testsRun, "failures", len(result.failures), "skipped", len(result.skipped))
assert result.wasSuccessful()
