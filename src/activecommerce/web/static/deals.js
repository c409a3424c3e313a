// The deals board: drag a card to another column (SortableJS). On drop, the card's move
// address gets the new stage by an htmx POST (the CSRF header comes from <body
// hx-headers>), and the answer, the board with its new counts and totals, replaces it.
// Without JavaScript each card's "Move to" form does the same.
(function () {
  function boardOf(list) {
    return list.closest("#board");
  }

  function moved(event) {
    var card = event.item;
    if (event.from === event.to) {
      return;
    }
    var board = boardOf(event.to);
    board.setAttribute("aria-busy", "true");
    window.htmx
      .ajax("POST", card.dataset.moveUrl, {
        source: board,
        target: "#board",
        swap: "outerHTML",
        values: { stageId: event.to.dataset.stageId },
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function sortable(root) {
    var lists = root.querySelectorAll ? root.querySelectorAll("ol.cards[data-stage-id]") : [];
    lists.forEach(function (list) {
      if (list.dataset.sortable) {
        return;
      }
      list.dataset.sortable = "1";
      window.Sortable.create(list, {
        group: "deals",
        draggable: ".deal-card",
        filter: "select, button, input, label, .load-more",
        preventOnFilter: false,
        forceFallback: true,
        fallbackTolerance: 3,
        emptyInsertThreshold: 40,
        onEnd: moved,
      });
    });
  }

  document.addEventListener("htmx:load", function (event) {
    sortable(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    sortable(document);
  });
})();
