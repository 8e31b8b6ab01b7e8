#include "eval/report.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "io/atomic_file.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string num(const json& v, int digits = 3) {
  if (!v.is_number()) return "–";
  std::ostringstream o;
  o.precision(digits);
  o << std::fixed << v.get<double>();
  return o.str();
}

const json& at_path(const json& j, const std::string& a, const std::string& b = "") {
  static const json none;
  if (!j.contains(a)) return none;
  if (b.empty()) return j[a];
  return j[a].contains(b) ? j[a][b] : none;
}

struct Column {
  const char* title;
  const char* key;
  const char* sub;
  const char* hint;
};
const Column kColumns[] = {
    {"UA ↑", "UA", "", "erase prompts: share of images without the concept"},
    {"UA-para ↑", "UA_paraphrase", "", "the same with paraphrases of the concept"},
    {"IRA ↑", "IRA", "", "other values of the same kind still drawn"},
    {"CRA ↑", "CRA", "", "other kinds still drawn"},
    {"ToyFID ↓", "toyfid", "", "Fréchet distance to fresh renders (judge features)"},
    {"CLIP retain ↑", "clip_score", "retain", "ToyCLIP score on retain prompts"},
    {"CLIP erase", "clip_score", "erase", "ToyCLIP score on erase prompts"},
    {"pixel MSE ↓", "locality", "retain_pixel_mse", "retain images vs the original, same seeds"},
    {"feature dist ↓", "locality", "retain_feature_distance", "retain images vs the original, judge features"},
    {"layout IoU ↑", "locality", "erase_layout_iou", "erase images: object masks vs the original"},
};

std::string table(const json& m) {
  std::ostringstream o;
  o << "<table id=\"metrics\"><tr><th>model</th>";
  for (const auto& c : kColumns) o << "<th title=\"" << escape(c.hint) << "\">" << c.title << "</th>";
  o << "</tr>\n";
  for (const auto& [row, r] : m["rows"].items()) {
    o << "<tr><td>" << escape(row) << "</td>";
    for (const auto& c : kColumns) o << "<td>" << num(at_path(r, c.key, c.sub)) << "</td>";
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

std::string chart_data(const json& m) {
  json rates = {{"labels", {"UA", "UA-paraphrase", "IRA", "CRA"}}, {"datasets", json::array()}};
  json fid = {{"labels", {"ToyFID"}}, {"datasets", json::array()}};
  for (const auto& [row, r] : m["rows"].items()) {
    rates["datasets"].push_back({{"label", row}, {"data", {r["UA"], r["UA_paraphrase"], r["IRA"], r["CRA"]}}});
    fid["datasets"].push_back({{"label", row}, {"data", {r["toyfid"]}}});
  }
  return json{{"rates", rates}, {"fid", fid}}.dump();
}

std::string grids(const json& m, const fs::path& dir) {
  std::ostringstream o;
  if (!m.contains("grids")) return "";
  std::string rows;
  for (const auto& r : m["grid_rows"]) rows += (rows.empty() ? "" : " | ") + r.get<std::string>();
  o << "<h2>Images</h2><p>Rows: " << escape(rows) << " (same seed in each column).</p>\n";
  for (const auto& [set, file] : m["grids"].items()) {
    const auto path = dir / file.get<std::string>();
    if (!fs::exists(path)) continue;
    o << "<h3>" << escape(set) << "</h3><img class=\"grid\" alt=\"" << escape(set) << " grid\" src=\"data:image/png;base64,"
      << base64_encode(read_file(path)) << "\">\n<ol class=\"prompts\">";
    for (const auto& p : at_path(m, "grid_prompts", set)) o << "<li>" << escape(p.get<std::string>()) << "</li>";
    o << "</ol>\n";
  }
  return o.str();
}

}  // namespace

std::string base64_encode(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

fs::path chartjs_path() {
  if (const char* env = std::getenv("SCULPT_CHARTJS"); env && *env) return fs::exists(env) ? fs::path(env) : fs::path();
  const fs::path debian = "/usr/share/javascript/chart.js/chart.min.js";
  return fs::exists(debian) ? debian : fs::path();
}

std::string report_html(const json& m, const fs::path& dir) {
  const auto chartjs = chartjs_path();
  std::ostringstream o;
  const auto& c = m["concept"];
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sculpt eval: erasing "
    << escape(c["name"].get<std::string>()) << "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
    << "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    << "td:first-child{text-align:left}img.grid{image-rendering:pixelated;width:"
    << 8 * 2 * 66 << "px;max-width:100%}.chart{width:34em;display:inline-block}.prompts{font-size:80%;color:#555}"
    << "</style>\n<script>window.onerror=function(msg){document.body.dataset.errors=(document.body.dataset.errors||'')"
    << "+msg+';'};</script>\n</head><body>\n<h1>Erasing “" << escape(c["name"].get<std::string>()) << "” ("
    << escape(c["kind"].get<std::string>()) << ")</h1>\n<p>";
  for (const auto& [name, src] : m["models"].items()) o << escape(name) << ": <code>" << escape(src.get<std::string>()) << "</code><br>";
  const auto& s = m["settings"];
  o << "Images per prompt set: " << s["images_per_set"] << ", DDIM " << s["steps"] << " steps, guidance "
    << num(s["guidance_scale"], 1) << ", seed " << s["seed"] << ".</p>\n<h2>Metrics</h2>\n" << table(m);
  if (m.contains("cost")) o << "<p>Edit cost: <code>" << escape(m["cost"].dump()) << "</code></p>\n";
  if (chartjs.empty()) {
    o << "<p id=\"no-charts\">Charts need Chart.js (Debian: <code>apt-get install libjs-chart.js</code>, or "
      << "SCULPT_CHARTJS=FILE).</p>\n";
  } else {
    o << "<div class=\"chart\"><canvas id=\"rates\"></canvas></div><div class=\"chart\"><canvas id=\"fid\"></canvas></div>\n"
      << "<script>" << read_file(chartjs) << "</script>\n<script>\nconst data = " << chart_data(m) << ";\n"
      << "let drawn = 0;\nfor (const id of ['rates', 'fid']) {\n"
      << "  const chart = new Chart(document.getElementById(id), {type: 'bar', data: data[id], options: {animation: false,"
      << " plugins: {title: {display: true, text: id === 'rates' ? 'rates (UA, IRA, CRA)' : 'ToyFID (lower is better)'}}}});\n"
      << "  if (chart.getDatasetMeta(0).data.length > 0) ++drawn;\n}\ndocument.body.dataset.charts = drawn;\n</script>\n";
  }
  o << grids(m, dir) << "</body></html>\n";
  return o.str();
}

}  // namespace sculpt
