# lavaan nonparametric bootstrap reference for the ECSI and CCSI variants (test_variants.py), as
# tests/model/bootstrap/make_reference.R: bootstrapLavaan(fit, R = 1000, type = "ordinary") on the
# unstandardized paths and loadings and their std.all values; bootstrap SE = sd(), percentile 95%
# interval = quantile(type = 7). Regenerate from the repo root:
#   Rscript tests/model/variants/make_bootstrap_reference.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
dir <- "tests/model/variants"
B <- as.integer(Sys.getenv("BOOT_R", "1000"))
variants <- list(
  ecsi = list(codes = c("IM", "CE", "PQ", "PV", "CS", "CC", "CL"),
              paths = list(c("IM", "CE"), c("IM", "CS"), c("IM", "CL"), c("CE", "PQ"), c("CE", "PV"),
                           c("PQ", "PV"), c("CE", "CS"), c("PQ", "CS"), c("PV", "CS"), c("CS", "CC"),
                           c("CS", "CL"), c("CC", "CL"))),
  ccsi = list(codes = c("IM", "CE", "PQ", "PV", "CS", "CL"),
              paths = list(c("IM", "CE"), c("IM", "CS"), c("IM", "CL"), c("CE", "PQ"), c("CE", "PV"),
                           c("PQ", "PV"), c("CE", "CS"), c("PQ", "CS"), c("PV", "CS"), c("CS", "CL"))))

reference <- function(variant, file, seed) {
  v <- variants[[variant]]
  raw <- read.csv(file.path(dir, file), check.names = FALSE)
  spec <- lapply(v$codes, function(code) names(raw)[grepl(paste0("^", code, "[0-9]+$"), names(raw))])
  names(spec) <- v$codes
  effects <- unique(vapply(v$paths, function(p) p[2], ""))
  structural <- vapply(effects, function(to) paste0(to, " ~ ", paste(vapply(Filter(function(p) p[2] == to, v$paths),
                                                                        function(p) p[1], ""), collapse = " + ")), "")
  meas <- vapply(v$codes, function(code) paste0(code, " =~ ", paste(spec[[code]], collapse = " + ")), "")
  fit <- sem(paste(c(meas, structural), collapse = "\n"), data = raw[, unlist(spec)], estimator = "ML")
  names_out <- c(vapply(v$paths, function(p) paste0(p[2], "~", p[1]), ""),
                 unlist(lapply(v$codes, function(c) paste0(c, "=~", spec[[c]]))))
  stat <- function(x) {
    est <- lavInspect(x, "est")
    sd_eta <- sqrt(diag(lavInspect(x, "cov.lv")))
    sd_x <- sqrt(diag(lavInspect(x, "implied")$cov))
    std <- list(beta = est$beta * outer(1 / sd_eta[rownames(est$beta)], sd_eta[colnames(est$beta)]),
                lambda = est$lambda * outer(1 / sd_x[rownames(est$lambda)], sd_eta[colnames(est$lambda)]))
    pick <- function(m) c(vapply(v$paths, function(p) m$beta[p[2], p[1]], 0),
                          unlist(lapply(v$codes, function(c) m$lambda[spec[[c]], c])))
    c(pick(est), pick(std))
  }
  set.seed(seed)
  draws <- bootstrapLavaan(fit, R = B, type = "ordinary", FUN = stat)
  failed <- length(attr(draws, "error.idx"))
  draws <- draws[complete.cases(draws), , drop = FALSE]
  k <- length(names_out)
  summ <- function(cols) {
    out <- lapply(seq_along(names_out), function(i) {
      x <- draws[, cols[i]]
      list(se = sd(x), ci = unname(quantile(x, c(0.025, 0.975), type = 7)), mean = mean(x))
    })
    names(out) <- names_out
    out
  }
  point <- stat(fit)
  list(variant = variant, file = file, nobs = lavInspect(fit, "nobs"), draws = B, failed = failed,
       used = nrow(draws), seed = seed,
       estimate = as.list(setNames(point[1:k], names_out)),
       unstandardized = summ(1:k), standardized = summ((k + 1):(2 * k)))
}
out <- list(lavaan_version = as.character(packageVersion("lavaan")),
            datasets = list(ecsi_full = reference("ecsi", "ecsi_full.csv", 1401),
                            ccsi_small = reference("ccsi", "ccsi_small.csv", 1402)))
write_json(out, file.path(dir, "bootstrap_reference.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote bootstrap_reference.json\n")
