// placeholder: the component's author replaces this with real tests.
#include <gtest/gtest.h>
TEST(Placeholder, NotWrittenYet) { GTEST_SKIP() << "not written yet"; }
