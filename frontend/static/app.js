// Gongsu report form improvements. The form works without this file: it adds lender
// suggestions, a live preview of what will be stored, and more payment rows.
"use strict";

(() => {
  const form = document.getElementById("report-form");
  const stringsNode = document.getElementById("client-strings");
  if (!form || !stringsNode) {
    return;
  }
  const strings = JSON.parse(stringsNode.textContent);
  const lang = document.documentElement.dataset.lang === "en" ? "en" : "zh";
  const t = (key, params = {}) =>
    (strings[key] || key).replace(/\{(\w+)\}/g, (whole, name) =>
      name in params ? String(params[name]) : whole,
    );

  const debounce = (fn, ms) => {
    let timer;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  };

  // Builds elements with textContent only, so nothing typed or returned is parsed as HTML.
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child);
      }
    }
    return node;
  };

  const fieldId = (name) => `f-${name.replace(/\./g, "-")}`;
  const MAX_PAYMENT_ROWS = 600;

  // One report per click: a second submit while the first is on its way would file it twice.
  let submitting = false;
  form.addEventListener("submit", (event) => {
    if (submitting) {
      event.preventDefault();
    }
    submitting = true;
  });
  // Coming back with the Back button restores this page as it was, flag included.
  window.addEventListener("pageshow", () => {
    submitting = false;
  });

  // More payment rows: copy the last row with the next index.

  const paymentRows = document.getElementById("payment-rows");
  const addRowButton = document.getElementById("add-payment-row");
  if (paymentRows && addRowButton) {
    addRowButton.hidden = false;
    addRowButton.addEventListener("click", () => {
      const rows = paymentRows.querySelectorAll(".row");
      const index = rows.length;
      if (index >= MAX_PAYMENT_ROWS) {
        return;
      }
      const row = rows[rows.length - 1].cloneNode(true);
      row.dataset.row = String(index);
      row.querySelector(".row__number").textContent = String(index + 1);
      row.querySelectorAll(".field-error").forEach((node) => node.remove());
      row.querySelectorAll(".field--error").forEach((node) => node.classList.remove("field--error"));
      row.querySelectorAll("[id], [for], [name]").forEach((node) => {
        for (const attr of ["id", "for", "name"]) {
          const value = node.getAttribute(attr);
          if (value) {
            node.setAttribute(attr, value.replace(/(payments[.-])\d+/, `$1${index}`));
          }
        }
      });
      row.querySelectorAll("input").forEach((input) => {
        input.value = "";
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      });
      paymentRows.append(row);
      row.querySelector("input").focus();
    });
  }

  // Lender suggestions from the lender list, including app brand names.

  const lenderInput = document.getElementById("f-lender");
  const lenderOptions = document.getElementById("lender-options");
  if (lenderInput && lenderOptions) {
    const suggest = debounce(async () => {
      const query = lenderInput.value.trim().slice(0, 60);
      if (!query) {
        return;
      }
      try {
        const response = await fetch(
          `/api/v1/lenders?q=${encodeURIComponent(query)}&limit=10`,
          { headers: { Accept: "application/json" } },
        );
        if (!response.ok) {
          return;
        }
        const matches = await response.json();
        if (!matches.length) {
          return;
        }
        lenderOptions.replaceChildren(
          ...matches.map((match) => {
            const canonical = lang === "zh" ? match.name_zh : match.name_en;
            const option = el("option", { value: match.matched_alias });
            option.label =
              match.matched_alias === canonical
                ? `${match.name_zh} · ${match.name_en}`
                : `${canonical} (${match.matched_alias})`;
            return option;
          }),
        );
      } catch {
        // Suggestions are a convenience; typing the name works without them.
      }
    }, 250);
    lenderInput.addEventListener("input", suggest);
  }

  // Live preview: the same JSON the API takes, built from the same fields as the server does.

  const AMOUNT_NOISE = /[\s,，_¥￥元%]/g;
  const PLACEHOLDER = /\[[A-Z][A-Z_]*\]/g;
  const GROUP_ANCHORS = {
    categories: "categories.refuses_negotiation",
    loan: "loan.net_received",
    "loan.payments": "loan.payments.0.due_on",
    "loan.schedule": "loan.schedule.installments",
    attempts: "attempts.0.channel",
    evidence: "evidence",
  };

  const rowIndices = (data, pattern) => {
    const found = new Set();
    for (const key of data.keys()) {
      const match = pattern.exec(key);
      if (match) {
        found.add(Number(match[1]));
      }
    }
    return [...found].sort((a, b) => a - b);
  };

  const collect = () => {
    const data = new FormData(form);
    const value = (name) => {
      const raw = data.get(name);
      return typeof raw === "string" ? raw.trim() : "";
    };
    const amount = (raw) => raw.replace(AMOUNT_NOISE, "");
    const body = { categories: data.getAll("categories") };
    for (const name of ["lender", "product", "title", "province", "first_incident_month"]) {
      if (value(name)) {
        body[name] = value(name);
      }
    }
    const narrative = data.get("narrative");
    if (typeof narrative === "string" && narrative.trim()) {
      body.narrative = narrative;
    }

    const loan = {};
    for (const name of ["contract_principal", "net_received", "disclosed_apr_percent"]) {
      if (value(`loan.${name}`)) {
        loan[name] = amount(value(`loan.${name}`));
      }
    }
    if (value("loan.received_on")) {
      loan.received_on = value("loan.received_on");
    }
    const schedule = {};
    if (value("loan.schedule.installments")) {
      schedule.installments = value("loan.schedule.installments");
    }
    if (value("loan.schedule.amount")) {
      schedule.amount = amount(value("loan.schedule.amount"));
    }
    if (Object.keys(schedule).length) {
      schedule.every = value("loan.schedule.every") || "month";
      loan.schedule = schedule;
    }
    const rows = { "loan.payments": [], attempts: [] };
    const payments = [];
    for (const index of rowIndices(data, /^loan\.payments\.(\d+)\.(due_on|amount)$/)) {
      const payment = {};
      if (value(`loan.payments.${index}.due_on`)) {
        payment.due_on = value(`loan.payments.${index}.due_on`);
      }
      if (value(`loan.payments.${index}.amount`)) {
        payment.amount = amount(value(`loan.payments.${index}.amount`));
      }
      if (Object.keys(payment).length) {
        payments.push(payment);
        rows["loan.payments"].push(index);
      }
    }
    if (payments.length) {
      loan.payments = payments;
    }
    if (Object.keys(loan).length) {
      body.loan = loan;
    }

    const attempts = [];
    for (const index of rowIndices(data, /^attempts\.(\d+)\.(channel|attempted_on|outcome)$/)) {
      const attempt = {};
      for (const name of ["channel", "attempted_on", "outcome"]) {
        if (value(`attempts.${index}.${name}`)) {
          attempt[name] = value(`attempts.${index}.${name}`);
        }
      }
      if (Object.keys(attempt).length) {
        attempts.push(attempt);
        rows.attempts.push(index);
      }
    }
    if (attempts.length) {
      body.attempts = attempts;
    }
    return { body, rows };
  };

  // An error path such as loan.payments.1.amount names the second row *sent*; blank rows are
  // not sent, so map it back to the row on the page, then to the nearest input that exists.
  const errorTarget = (path, rows) => {
    let name = path;
    const match = /^(loan\.payments|attempts)\.(\d+)(\..*)?$/.exec(path);
    if (match && rows[match[1]] && Number(match[2]) < rows[match[1]].length) {
      name = `${match[1]}.${rows[match[1]][Number(match[2])]}${match[3] || ""}`;
    }
    const parts = name.split(".");
    while (parts.length) {
      const candidate = parts.join(".");
      const anchor = GROUP_ANCHORS[candidate] || candidate;
      const input = document.getElementById(fieldId(anchor));
      if (input) {
        return { name: candidate, input };
      }
      parts.pop();
    }
    return null;
  };

  const labelFor = (target) => {
    if (target.name in GROUP_ANCHORS) {
      const group = target.input.closest("fieldset");
      const legend = group && group.querySelector("legend");
      if (legend) {
        return legend.textContent.replace(/^\d+/, "").trim();
      }
    }
    const label = form.querySelector(`label[for="${target.input.id}"]`);
    const text = label ? label.textContent.trim() : target.name;
    const row = /^(?:loan\.payments|attempts)\.(\d+)\./.exec(target.name);
    return row ? `${t("form.row", { number: Number(row[1]) + 1 })} · ${text}` : text;
  };

  // Fields the person has left at least once; only those get inline messages while typing.
  const touched = new Set();
  form.addEventListener("focusout", (event) => {
    if (event.target.name) {
      touched.add(event.target.id);
    }
  });

  const clearLiveErrors = () => {
    form.querySelectorAll(".js-error").forEach((node) => {
      const input = document.getElementById(node.dataset.for);
      if (input) {
        input.removeAttribute("aria-invalid");
        const ids = (input.getAttribute("aria-describedby") || "")
          .split(" ")
          .filter((id) => id && id !== node.id);
        if (ids.length) {
          input.setAttribute("aria-describedby", ids.join(" "));
        } else {
          input.removeAttribute("aria-describedby");
        }
      }
      node.remove();
    });
  };

  const showInlineError = (input, message) => {
    if (!touched.has(input.id) || input.type === "checkbox") {
      return;
    }
    const node = el("p", { class: "field-error js-error", id: `js-err-${input.id}` }, message);
    node.dataset.for = input.id;
    input.before(node);
    input.setAttribute("aria-invalid", "true");
    const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    input.setAttribute("aria-describedby", [...ids, node.id].join(" "));
  };

  const previewBody = document.getElementById("preview-body");

  const markedText = (tag, text, id) => {
    const node = el(tag, { class: tag === "p" ? "stored-text" : "stored-text stored-text--long", id });
    let position = 0;
    for (const match of text.matchAll(PLACEHOLDER)) {
      node.append(text.slice(position, match.index));
      node.append(el("mark", { class: "redacted" }, match[0]));
      position = match.index + match[0].length;
    }
    node.append(text.slice(position));
    return node;
  };

  const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(2)}%`);

  const costBlock = (cost) => {
    const flags = cost.flags || {};
    const statements = el("ul", { class: "cost__statements" });
    for (const name of ["above_24", "above_36", "above_4lpr"]) {
      let text;
      let className = "statement";
      if (!(name in flags)) {
        text = t(`cost.${name}.unknown`);
      } else {
        text = t(`cost.${name}.${flags[name] ? "yes" : "no"}`, { cap: percent(cost.cap_4lpr) });
        className += flags[name] ? " statement--flag" : " statement--ok";
      }
      statements.append(el("li", { class: className }, text));
    }
    const facts = el("dl", { class: "facts" });
    const fact = (label, value) => facts.append(el("div", {}, el("dt", {}, label), el("dd", {}, value)));
    fact(t("cost.total_paid"), cost.total_paid);
    fact(t("cost.total_cost"), cost.total_cost);
    if (cost.upfront_deduction !== null && cost.upfront_deduction !== undefined) {
      fact(t("cost.upfront_deduction"), cost.upfront_deduction);
    }
    if (cost.lpr_percent_at_contract !== null && cost.lpr_percent_at_contract !== undefined) {
      fact(t("cost.lpr"), `${cost.lpr_percent_at_contract.toFixed(2)}%`);
    }
    fact(t("cost.method"), t(`cost.method.${cost.method}`));
    const figure = (label, value, kind) =>
      el(
        "div",
        { class: "figure" },
        el("span", { class: "figure__label" }, label),
        el("span", { class: "figure__value", "data-cost": kind }, value),
      );
    return el(
      "div",
      { class: "cost" },
      el(
        "div",
        { class: "cost__figures" },
        figure(t("cost.apr_nominal"), percent(cost.apr_nominal), "nominal"),
        figure(t("cost.apr_effective"), percent(cost.apr_effective), "effective"),
      ),
      statements,
      facts,
    );
  };

  const renderPreview = (preview) => {
    const lender = lang === "zh" ? preview.lender_name_zh : preview.lender_name_en;
    const redactionCount = preview.redactions.length;
    previewBody.replaceChildren(
      el("p", { class: "hint" }, t("preview.live")),
      lender
        ? el("p", {}, `${t("preview.lender_matched")} `, el("strong", {}, lender))
        : el("p", {}, t("preview.lender_unmatched")),
      el("h3", {}, t("preview.title")),
      markedText("p", preview.redacted_title, "preview-title"),
      el("h3", {}, t("preview.narrative")),
      markedText("div", preview.redacted_narrative, "preview-narrative"),
      el(
        "p",
        { class: "hint" },
        redactionCount ? t("preview.redactions", { count: redactionCount }) : t("preview.redactions_none"),
      ),
      el("h3", {}, t("preview.loan_title")),
      preview.loan_cost ? costBlock(preview.loan_cost) : el("p", {}, t("preview.no_loan")),
    );
  };

  const renderErrors = (errors, rows) => {
    const list = el("ul", { class: "preview-errors" });
    for (const error of errors) {
      const target = errorTarget(String(error.field), rows);
      if (!target) {
        list.append(el("li", {}, `${t("form.error.general")}${lang === "zh" ? "：" : ": "}${error.message}`));
        continue;
      }
      const line = `${labelFor(target)}${lang === "zh" ? "：" : ": "}${error.message}`;
      list.append(el("li", {}, el("a", { href: `#${target.input.id}` }, line)));
      showInlineError(target.input, error.message);
    }
    previewBody.replaceChildren(el("p", {}, t("preview.errors_title")), list);
  };

  const showMessage = (message) => {
    previewBody.replaceChildren(el("p", { class: "hint" }, message));
  };

  let latest = 0;
  const runPreview = debounce(async () => {
    const { body, rows } = collect();
    if (!body.title && !body.narrative) {
      return;
    }
    const requestNumber = ++latest;
    let response;
    let answer = null;
    try {
      response = await fetch(`/api/v1/reports/preview?lang=${lang}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      answer = await response.json();
    } catch {
      if (requestNumber === latest) {
        showMessage(t("preview.failed"));
      }
      return;
    }
    // Answers can arrive out of order; only the newest one describes the form as it is now.
    if (requestNumber !== latest) {
      return;
    }
    clearLiveErrors();
    if (response.ok) {
      renderPreview(answer);
    } else if (answer && Array.isArray(answer.errors)) {
      renderErrors(answer.errors, rows);
    } else {
      showMessage((answer && answer.detail) || t("preview.failed"));
    }
  }, 600);

  if (previewBody) {
    form.addEventListener("input", (event) => {
      if (event.target.type !== "file") {
        runPreview();
      }
    });
    form.addEventListener("change", (event) => {
      if (event.target.type !== "file") {
        runPreview();
      }
    });
  }
})();
