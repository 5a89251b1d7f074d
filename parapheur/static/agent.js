// Signing with the official's own card through the local agent (parapheur-agent).
// The page is only a courier: the server prepares and signs a request for the agent, the agent
// shows it to the official, asks her PIN and lets the card sign; the server finishes.
"use strict";

(function () {
  if (window.parapheurAgentLoaded) { return; }  // the partial may be included more than once
  window.parapheurAgentLoaded = true;

  function setStatus(root, text) {
    root.querySelector(".agent-status").textContent = text;
  }

  async function agentCall(root, path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
    const response = await fetch(root.dataset.agentUrl + path, options);
    const data = await response.json();
    if (!response.ok) { throw new Error(data.error || "L'agent a refusé la demande."); }
    return data;
  }

  async function serverCall(root, url, body) {
    const response = await fetch(url, {
      method: body === undefined ? "GET" : "POST", credentials: "same-origin",
      headers: {"Accept": "application/json", "Content-Type": "application/json",
                "X-CSRFToken": root.dataset.csrf},
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await response.json();
    if (!response.ok) { throw new Error(data.error || "Le parapheur a refusé la demande."); }
    return data;
  }

  function selectedItems(root) {
    if (root.dataset.items) { return root.dataset.items.split(" "); }
    const form = document.getElementById(root.dataset.form);
    if (!form) { return []; }
    // The inbox's boxes also tick visa steps (batch visa): the card signs the signature ones.
    return Array.from(form.querySelectorAll("input[name=items]:checked:not([data-action=visa])"))
      .map((box) => box.value);
  }

  function reviewed(root) {
    const form = root.dataset.form && document.getElementById(root.dataset.form);
    const box = form && form.querySelector("input[name=reviewed]");
    return !box || box.checked;
  }

  function report(root, lines) {
    const list = root.querySelector(".agent-result");
    list.replaceChildren();
    for (const [text, failed] of lines) {
      const item = document.createElement("li");
      item.textContent = text;
      if (failed) { item.className = "failed"; }
      list.append(item);
    }
  }

  async function detect(root) {
    root.querySelector(".agent-start").hidden = true;
    setStatus(root, "Recherche de l'agent de signature sur ce poste…");
    let version;
    try {
      version = await agentCall(root, "/v1/version");
    } catch (error) {
      setStatus(root, "Agent de signature absent : la signature par carte n'est pas disponible sur ce poste.");
      root.querySelector(".agent-absent").hidden = false;
      return;
    }
    try {
      if (!version.paired) {
        setStatus(root, "Appairage avec l'agent : acceptez-le dans l'agent de signature…");
        const pairing = await serverCall(root, root.dataset.pairingUrl);
        await agentCall(root, "/v1/pair", {server: pairing.server, server_key: pairing.server_key});
      }
      const found = await agentCall(root, "/v1/certificates");
      const select = root.querySelector(".agent-certificate");
      select.replaceChildren();
      for (const certificate of found.certificates) {
        const option = document.createElement("option");
        option.value = certificate.id;
        option.textContent = `${certificate.common_name || certificate.subject} — ${certificate.label} (jusqu'au ${certificate.not_after.slice(0, 10)})`;
        option.certificate = certificate;
        select.append(option);
      }
      if (!found.certificates.length) {
        setStatus(root, "Agent de signature présent, mais aucun certificat : insérez votre carte puis rechargez la page.");
        return;
      }
      setStatus(root, `Agent de signature ${version.version} prêt.`);
      root.querySelector(".agent-ready").hidden = false;
    } catch (error) {
      setStatus(root, error.message);
    }
  }

  async function sign(root) {
    const items = selectedItems(root);
    const progress = root.querySelector(".agent-progress");
    const button = root.querySelector(".agent-sign");
    if (!items.length) { report(root, [["Cochez au moins un document à signer.", true]]); return; }
    if (!reviewed(root)) {
      report(root, [["Confirmez avoir pris connaissance des documents sélectionnés.", true]]);
      return;
    }
    const option = root.querySelector(".agent-certificate").selectedOptions[0];
    const certificate = option.certificate;
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    report(root, []);
    try {
      setStatus(root, `Préparation de ${items.length} document(s)…`);
      const prepared = await serverCall(root, root.dataset.prepareUrl, {
        items: items, certificate: certificate.certificate, chain: certificate.chain});
      progress.value = 1;
      setStatus(root, "Confirmez dans l'agent de signature (sur sa page, ouverte dans un nouvel onglet, ou dans son terminal) et saisissez-y le code PIN de votre carte…");
      const signed = await agentCall(root, "/v1/sign", {
        certificate_id: option.value, request: prepared.request,
        request_signature: prepared.request_signature});
      progress.value = 2;
      setStatus(root, "Finalisation des signatures (horodatage, validation)…");
      const result = await serverCall(root, root.dataset.finishUrl, {
        session: prepared.session,
        signatures: prepared.documents.map((d, i) => ({document_id: d.document_id,
                                                        part: d.part || "pades",
                                                        signature: signed.signatures[i]}))});
      progress.value = 3;
      const lines = [[`${result.signed.length} document(s) signé(s).`, false]];
      for (const refused of [...prepared.refused, ...result.failed]) {
        lines.push([`Non signé : « ${refused.title} » — ${refused.reason}`, true]);
      }
      report(root, lines);
      setStatus(root, "Signature terminée.");
    } catch (error) {
      report(root, [[error.message, true]]);
      setStatus(root, "La signature n'a pas abouti : rien n'a été signé par cette tentative.");
    } finally {
      button.disabled = false;
    }
  }

  async function register(root) {
    const certificate = root.querySelector(".agent-certificate").selectedOptions[0].certificate;
    try {
      const registered = await serverCall(root, root.dataset.registerUrl,
                                          {certificate: certificate.certificate});
      report(root, [[registered.approved
        ? "Ce certificat est déjà enregistré et approuvé pour votre compte."
        : "Certificat enregistré : il sera le vôtre une fois approuvé par l'administrateur.", false]]);
    } catch (error) {
      report(root, [[error.message, true]]);
    }
  }

  for (const root of document.querySelectorAll(".agent-signing")) {
    root.querySelector(".agent-register").addEventListener("click", () => register(root));
    root.querySelector(".agent-sign").addEventListener("click", () => sign(root));
    // Only on request: pages do not probe this computer for users who sign otherwise.
    root.querySelector(".agent-start").addEventListener("click", () => detect(root));
  }
})();
