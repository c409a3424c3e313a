// The deals board: drag a card to another column (SortableJS), or use its "Move to" form.
// Either way the card's move address gets the new stage by an htmx POST (the CSRF header
// comes from <body hx-headers>), and the answer, the board with its new counts and totals,
// replaces it in place: the board keeps its scroll positions (sideways, and each column's),
// the page does not move, and the moved card is brought into view inside the board only.
// Without JavaScript each card's "Move to" form posts and the board page comes back.
(function () {
  var kept = null; // the board's scroll positions while its replacement is on its way
  var shown = null; // the timer that clears the "Moved ..." message

  function boardOf(element) {
    return element.closest("#board");
  }

  function send(url, stageId, board) {
    board.setAttribute("aria-busy", "true");
    window.htmx
      .ajax("POST", url, {
        source: board,
        target: "#board",
        swap: "outerHTML",
        values: { stageId: stageId },
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function dropped(event) {
    if (event.from === event.to) {
      return;
    }
    send(event.item.dataset.moveUrl, event.to.dataset.stageId, boardOf(event.to));
  }

  function submitted(event) {
    var form = event.target;
    var board = form instanceof HTMLFormElement && form.classList.contains("move-form") && boardOf(form);
    if (!board || event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    send(form.getAttribute("action"), form.elements.stageId.value, board);
  }

  function keep(board) {
    var lists = {};
    board.querySelectorAll("ol.cards[data-stage-id]").forEach(function (list) {
      lists[list.dataset.stageId] = list.scrollTop;
    });
    return { left: board.scrollLeft, lists: lists };
  }

  function restore(board, state) {
    board.scrollLeft = state.left;
    board.querySelectorAll("ol.cards[data-stage-id]").forEach(function (list) {
      list.scrollTop = state.lists[list.dataset.stageId] || 0;
    });
  }

  // Scroll `inner` into the box of `outer` (a scroll container), on one axis, as little
  // as needed: never the page (element.scrollIntoView would scroll it too).
  function within(outer, inner, vertical) {
    var o = outer.getBoundingClientRect();
    var i = inner.getBoundingClientRect();
    var start = vertical ? i.top - o.top : i.left - o.left;
    var end = vertical ? i.bottom - o.bottom : i.right - o.right;
    var by = start < 0 ? start : end > 0 ? Math.min(end, start) : 0;
    if (vertical) {
      outer.scrollTop += by;
    } else {
      outer.scrollLeft += by;
    }
  }

  function reveal(board) {
    var card = board.dataset.moved && document.getElementById(board.dataset.moved);
    if (!card) {
      return;
    }
    within(card.closest("ol.cards"), card, true);
    within(board, card.closest(".board-column"), false);
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
        onEnd: dropped,
      });
    });
  }

  document.addEventListener("submit", submitted);
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    kept = target && target.id === "board" ? keep(target) : null;
  });
  // Fired on the new board as soon as it is in the document, before it is painted.
  document.addEventListener("htmx:afterSwap", function (event) {
    var board = event.target;
    if (board.id !== "board" || !kept) {
      return;
    }
    restore(board, kept);
    kept = null;
    reveal(board);
    var status = document.getElementById("board-status");
    if (status && board.dataset.moved) {
      window.clearTimeout(shown);
      shown = window.setTimeout(function () {
        status.textContent = "";
      }, 8000);
    }
  });
  document.addEventListener("htmx:load", function (event) {
    sortable(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    sortable(document);
  });
})();
