// report.html for `sculpt eval`: one self-contained page (opens from disk, no network) with the metrics
// table, bar charts (Chart.js from Debian's libjs-chart.js, inlined) and the image grids (inlined PNGs).
// Without Chart.js on the machine the page has the table and grids and says why the charts are missing.
// When the charts are drawn the page sets <body data-charts="N">; script errors set data-errors.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace sculpt {

// Chart.js to inline: $SCULPT_CHARTJS, else /usr/share/javascript/chart.js/chart.min.js; "" when neither.
std::filesystem::path chartjs_path();

// metrics: a "sculpt.eval/1" object; grid files are read from dir.
std::string report_html(const nlohmann::json& metrics, const std::filesystem::path& dir);

std::string base64_encode(const std::string& bytes);

}  // namespace sculpt
