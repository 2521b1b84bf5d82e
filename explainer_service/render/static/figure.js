// Draws a page's plotly figure from its JSON data block: the pages' Content-Security-Policy
// runs no inline script.
(function () {
  var data = document.getElementById("figure-data");
  if (!data) {
    return;
  }
  var figure = JSON.parse(data.textContent);
  Plotly.newPlot("figure", figure.data, figure.layout, {displaylogo: false, responsive: true});
})();
