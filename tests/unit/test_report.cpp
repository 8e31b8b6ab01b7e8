// report.html: self-contained, and in a real browser (headless Chromium) it renders without script
// errors and draws both charts. Base64 against RFC 4648's test vectors.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "eval/report.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "support.h"

using namespace sculpt;
namespace fs = std::filesystem;

TEST(Report, Base64MatchesRfc4648) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

namespace {

nlohmann::json sample_metrics(const fs::path& dir) {
  nlohmann::json m;
  m["schema"] = "sculpt.eval/1";
  m["concept"] = {{"name", "star"}, {"kind", "shape"}, {"words", {"star", "pentagram"}}};
  m["models"] = {{"original", "models/toyworld"}, {"edited", "models/toyworld + delta d.safetensors"}};
  m["settings"] = {{"images_per_set", 8}, {"seed", 0}, {"steps", 15}, {"guidance_scale", 5.0}, {"scheduler", "ddim"}};
  int k = 0;
  for (const char* row : {"original", "edited", "negative_prompt"}) {
    m["rows"][row] = {{"UA", 0.1 * ++k}, {"UA_paraphrase", 0.05 * k}, {"IRA", 0.9}, {"CRA", 0.8}, {"toyfid", 3.0 * k},
                      {"clip_score", {{"retain", 30.0}, {"erase", 20.0}}}};
  }
  m["rows"]["edited"]["locality"] = {{"retain_pixel_mse", 0.01}, {"retain_feature_distance", 0.5}, {"erase_layout_iou", 0.7}};
  image_write_png(dir / "grid_erase.png", torch::rand({3, 20, 40}));
  m["grids"] = {{"erase", "grid_erase.png"}};
  m["grid_prompts"] = {{"erase", {"a <b>star</b>"}}};
  m["grid_rows"] = {"original", "edited", "negative_prompt"};
  return m;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}

}  // namespace

TEST(Report, IsSelfContainedAndEscapesText) {
  const auto dir = test::temp_dir("report_static");
  const auto html = report_html(sample_metrics(dir), dir);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find("a &lt;b&gt;star&lt;/b&gt;"), std::string::npos);  // prompts are escaped
  EXPECT_EQ(html.find("http://"), std::string::npos);                   // nothing fetched from a network
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  for (const char* col : {"UA", "IRA", "CRA", "ToyFID", "layout IoU"}) EXPECT_NE(html.find(col), std::string::npos) << col;
}

TEST(Report, RendersInHeadlessChromiumWithBothCharts) {
  if (chartjs_path().empty()) GTEST_SKIP() << "Chart.js not installed (scripts/setup.sh installs libjs-chart.js)";
  if (std::system("command -v chromium > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "chromium not installed (scripts/setup.sh installs it)";
  const auto dir = test::temp_dir("report_browser");
  write_file_atomically(dir / "report.html", report_html(sample_metrics(dir), dir));
  const auto dom = run("chromium --headless --no-sandbox --disable-gpu --dump-dom 'file://" +
                       (dir / "report.html").string() + "' 2>/dev/null");
  ASSERT_NE(dom.find("<table id=\"metrics\">"), std::string::npos) << dom.substr(0, 500);
  EXPECT_NE(dom.find("data-charts=\"2\""), std::string::npos) << "charts not drawn";
  EXPECT_EQ(dom.find("data-errors"), std::string::npos) << "script errors in the page";
}
