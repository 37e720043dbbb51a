# lavaan reference numbers for tests/model (CI has no R: commit this script's output).
# Regenerate from the repo root:  Rscript tests/model/lavaan/make_reference.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })

data_dir <- "tests/model/data"
out_file <- "tests/model/lavaan/reference.json"
codes <- c("CE", "PQ", "PV", "CS", "CC", "CL")
structural <- c("PQ ~ CE", "PV ~ CE + PQ", "CS ~ CE + PQ + PV", "CC ~ CS", "CL ~ CS + CC")
drivers <- c("CE", "PQ", "PV", "CS", "CC")
targets <- c("CS", "CL")

prefix_spec <- function(cols) {
  spec <- lapply(codes, function(code) cols[grepl(paste0("^", code, "[0-9]+$"), cols)])
  names(spec) <- codes
  spec
}

model_syntax <- function(spec) {
  meas <- vapply(codes, function(code) {
    items <- spec[[code]]
    if (length(items) == 1) {
      # single indicator: loading 1, no error variance (the construct is the item)
      paste0(code, " =~ 1*", items, "\n", items, " ~~ 0*", items)
    } else {
      paste0(code, " =~ ", paste(items, collapse = " + "))
    }
  }, "")
  paste(c(meas, structural), collapse = "\n")
}

# Henseler, Ringle & Sarstedt (2015): mean heterotrait-heteromethod correlation over the
# geometric mean of the two mean monotrait-heteromethod correlations. Absolute correlations
# (as semTools::htmt, absolute = TRUE) because CC correlates negatively with the other constructs.
htmt <- function(R, a, b) {
  R <- abs(R)
  mono <- function(x) { r <- R[x, x]; mean(r[upper.tri(r)]) }
  mean(R[a, b]) / sqrt(mono(a) * mono(b))
}

cronbach <- function(X) {
  k <- ncol(X)
  k / (k - 1) * (1 - sum(apply(X, 2, var)) / var(rowSums(X)))
}

effects <- function(B) {
  total <- solve(diag(nrow(B)) - B) - diag(nrow(B))
  dimnames(total) <- dimnames(B)
  rows <- list()
  for (to in targets) for (from in drivers) {
    if (from == to) next
    rows[[length(rows) + 1]] <- list(from = from, to = to, direct = B[to, from],
      indirect = total[to, from] - B[to, from], total = total[to, from])
  }
  rows
}

reference <- function(file, spec, missing) {
  raw <- read.csv(file.path(data_dir, file), check.names = FALSE)
  items <- unlist(spec, use.names = FALSE)
  raw <- raw[, items]
  syntax <- model_syntax(spec)
  fit <- if (missing == "ml") {
    sem(syntax, data = raw, estimator = "ML", missing = "ml", fixed.x = FALSE)
  } else {
    sem(syntax, data = raw, estimator = "ML")
  }
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- pe[, c("lhs", "op", "rhs", "est", "se", "z", "pvalue", "ci.lower", "ci.upper", "std.all")]

  fm_names <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
                "srmr", "baseline.chisq", "baseline.df", "npar", "logl", "unrestricted.logl")
  fm_all <- fitMeasures(fit)
  srmr_names <- grep("^srmr", names(fm_all), value = TRUE)
  fm <- as.list(unname(fm_all[fm_names])); names(fm) <- fm_names
  srmr_all <- as.list(unname(fm_all[srmr_names])); names(srmr_all) <- srmr_names
  same <- srmr_names[srmr_names != "srmr" &
                     abs(unlist(srmr_all[srmr_names]) - fm_all[["srmr"]]) < 1e-12]

  std <- standardizedSolution(fit)
  rel <- list()
  listwise <- na.omit(raw)
  R <- cor(listwise)
  alpha <- list()
  for (code in codes) {
    its <- spec[[code]]
    lam <- std$est.std[std$op == "=~" & std$lhs == code & std$rhs %in% its]
    theta <- std$est.std[std$op == "~~" & std$lhs %in% its & std$lhs == std$rhs]
    rel[[code]] <- list(cr = sum(lam)^2 / (sum(lam)^2 + sum(theta)), ave = mean(lam^2),
                        std_loadings = as.list(setNames(lam, its)))
    if (length(its) >= 2) alpha[[code]] <- cronbach(as.matrix(listwise[, its]))
  }
  ht <- list()
  multi <- codes[vapply(codes, function(c) length(spec[[c]]) >= 2, TRUE)]
  for (i in seq_along(multi)) for (j in seq_along(multi)) if (i < j) {
    ht[[paste0(multi[i], "|", multi[j])]] <- htmt(R, spec[[multi[i]]], spec[[multi[j]]])
  }

  list(
    file = file, missing = missing, items = lapply(spec, I), model = syntax,
    nobs = lavInspect(fit, "nobs"), n_total = nrow(raw), n_listwise = nrow(listwise),
    converged = lavInspect(fit, "converged"),
    parameters = pe,
    r2 = as.list(lavInspect(fit, "r2")[setdiff(codes, "CE")]),
    fit_measures = fm,
    srmr_variants = srmr_all,
    srmr_is = I(same),
    effects = effects(lavInspect(fit, "est")$beta[codes, codes]),
    effects_std = effects(lavInspect(fit, "std")$beta[codes, codes]),
    reliability = rel, alpha = alpha, htmt = ht,
    item_means_listwise = as.list(colMeans(listwise))
  )
}

std_spec <- prefix_spec(names(read.csv(file.path(data_dir, "csi_multi.csv"))))
single_spec <- prefix_spec(names(read.csv(file.path(data_dir, "csi_single_cc.csv"))))
custom_spec <- fromJSON(file.path(data_dir, "csi_custom_names.map.json"))[codes]

out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  r_version = R.version.string,
  notes = c(
    "ML fit: sem(model, data, estimator='ML'); marker-variable identification (first loading 1), likelihood='normal'.",
    "lavaan ML uses the biased sample covariance (divides by N, not N-1); chisq = N * F_ML (not N-1).",
    "Single-item CC: 'CC =~ 1*CC1' and 'CC1 ~~ 0*CC1'. lavaan's baseline (independence) model keeps CC1's variance free.",
    "missing='ml' uses FIML with fixed.x=FALSE and adds a mean structure; its fitMeasures srmr differs from the listwise (Bentler, no means) one - see srmr_variants/srmr_is.",
    "effects: total = (I-B)^-1 - I, indirect = total - direct; B from lavInspect(fit,'est')$beta (effects) or lavInspect(fit,'std')$beta (effects_std).",
    "reliability: cr = (sum l)^2/((sum l)^2 + sum theta), ave = mean(l^2), on std.all loadings/residual variances (single item: cr = ave = 1).",
    "alpha (k>=2 items), htmt (pairs with >=2 items each) and item_means_listwise use the listwise-complete rows; var() uses N-1.",
    "htmt uses absolute item correlations (semTools::htmt default absolute=TRUE), so CC pairs are positive.",
    "srmr_is lists the srmr_* variants equal to fitMeasures' srmr (listwise: Bentler, no mean structure; missing='ml': srmr_bentler with means).",
    "missing='ml': chisq = 2*(unrestricted.logl - logl), the saturated model fitted by EM; lavaan's FIML SEs use the observed information (its default for missing='ml'), listwise SEs the expected information.",
    "parameters: parameterEstimates(fit, standardized=TRUE); null = NA (e.g. se/z of fixed parameters)."
  ),
  datasets = list(
    csi_multi = reference("csi_multi.csv", std_spec, "listwise"),
    csi_single_cc = reference("csi_single_cc.csv", single_spec, "listwise"),
    csi_missing_listwise = reference("csi_missing.csv", single_spec, "listwise"),
    csi_missing_ml = reference("csi_missing.csv", single_spec, "ml"),
    csi_custom_names = reference("csi_custom_names.csv", custom_spec, "listwise")
  )
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, dataframe = "rows", na = "null",
           pretty = TRUE)
cat("wrote", out_file, "\n")
