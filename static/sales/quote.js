// The printable quote's toolbar: "Print / save as PDF" opens the browser's print dialog.
document.addEventListener("click", function (e) {
  if (e.target.closest && e.target.closest("[data-print]")) window.print();
});
