/* When a session has expired, the dashboard's data requests answer 401: rather than leave stale
   figures on screen and errors in the console, go to sign-in and come back to the same place
   (the address carries the tab, team and cycle). The 401 never reaches Dash: the page is
   leaving, so its request simply never settles. */
(function () {
  var original = window.fetch;
  if (!original) { return; }
  var leaving = false;
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (response.status !== 401) { return response; }
      if (!leaving) {
        leaving = true;
        var here = window.location.pathname + window.location.search;
        window.location.assign("/sign-in?next=" + encodeURIComponent(here));
      }
      return new Promise(function () {});
    });
  };
})();
