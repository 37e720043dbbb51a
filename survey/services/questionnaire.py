"""The standard CSI questionnaire (ACSI/CCSI items) in English and 简体中文; surveys are created from it.

``TEMPLATE`` is the ACSI questionnaire; ``template(model)`` adds the image items that the ECSI and CCSI
variants measure (and drops the complaints construct item that CCSI does not have).
"""
from flask_babel import lazy_gettext as _l

from model.spec import VARIANTS, check_model, parse_item_code
from model import CONSTRUCTS  # construct code -> (English, Chinese name), owned by the model package

# Sections in questionnaire order; titles are UI strings (gettext), question wording lives in the database.
SECTIONS = {
    "image": _l("Image"),
    "expectations": _l("Your expectations"),
    "quality": _l("Quality"),
    "value": _l("Value for money"),
    "satisfaction": _l("Satisfaction"),
    "complaints": _l("Complaints"),
    "loyalty": _l("Loyalty"),
    "about": _l("About you"),
    "comment": _l("Your comments"),
}
CONSTRUCT_SECTION = {
    "IM": "image", "CE": "expectations", "PQ": "quality", "PV": "value", "CS": "satisfaction", "CC": "complaints", "CL": "loyalty",
}


def _scale(code, text_en, text_zh, low, high, **extra):
    """Describe one 10-point item with labelled ends and a don't-know choice."""
    # ECSI's codes are every variant's codes (IM plus ACSI's six)
    construct = parsed[0] if (parsed := parse_item_code(code, model="ecsi")) else None
    return {
        "code": code, "construct": construct, "kind": "scale",
        "section": extra.pop("section", CONSTRUCT_SECTION.get(construct)),
        "text_en": text_en, "text_zh": text_zh,
        "low_en": low[0], "low_zh": low[1], "high_en": high[0], "high_zh": high[1],
        "required": True, "allow_dont_know": True, **extra,
    }


def _choice(code, kind, text_en, text_zh, options, section, **extra):
    """Describe one choice question; options are (value, English, Chinese)."""
    return {
        "code": code, "construct": None, "kind": kind, "section": section,
        "text_en": text_en, "text_zh": text_zh,
        "options": [{"value": v, "en": en, "zh": zh} for v, en, zh in options],
        "required": extra.pop("required", False), "allow_dont_know": False, **extra,
    }


EXPECT = (("Very low expectations", "期望很低"), ("Very high expectations", "期望很高"))
POOR_EXCELLENT = (("Very poor", "很差"), ("Excellent", "非常好"))
LIKELY = (("Very unlikely", "非常不可能"), ("Very likely", "非常可能"))
YES_NO = (("yes", "Yes", "是"), ("no", "No", "否"))

TEMPLATE = [
    _scale("CE1", "Before you became our customer, what did you expect of the overall quality of our products and services?",
           "在成为我们的客户之前，您对我们产品和服务总体质量的期望如何？", *EXPECT),
    _scale("CE2", "Before you became our customer, how reliable did you expect our products and services to be (how often things would go wrong)?",
           "在成为我们的客户之前，您期望我们的产品和服务有多可靠（出问题的频率）？", *EXPECT),
    _scale("CE3", "Before you became our customer, how well did you expect our products and services to meet your personal needs?",
           "在成为我们的客户之前，您期望我们的产品和服务在多大程度上满足您的个人需求？", *EXPECT),
    _scale("PQ1", "Based on your experience, how would you rate the overall quality of our products and services?",
           "根据您的实际体验，您如何评价我们产品和服务的总体质量？", *POOR_EXCELLENT),
    _scale("PQ2", "How reliable have our products and services been (how often have things gone wrong)?",
           "我们的产品和服务可靠性如何（出问题的频率）？", ("Very unreliable", "很不可靠"), ("Very reliable", "非常可靠")),
    _scale("PQ3", "How well have our products and services met your personal needs?",
           "我们的产品和服务在多大程度上满足了您的个人需求？", ("Not at all", "完全没有满足"), ("Completely", "完全满足")),
    _scale("PV1", "Given the price you paid, how would you rate the quality of our products and services?",
           "考虑到您支付的价格，您如何评价我们产品和服务的质量？", *POOR_EXCELLENT),
    _scale("PV2", "Given the quality of our products and services, how would you rate the price you paid?",
           "考虑到我们产品和服务的质量，您如何评价您支付的价格？", ("Very unreasonable", "很不合理"), ("Very reasonable", "非常合理")),
    _scale("CS1", "Overall, how satisfied are you with our products and services?",
           "总体而言，您对我们的产品和服务满意吗？", ("Very dissatisfied", "非常不满意"), ("Very satisfied", "非常满意")),
    _scale("CS2", "To what extent have our products and services fallen short of or exceeded your expectations?",
           "我们的产品和服务在多大程度上低于或超出了您的期望？", ("Fell far short", "远低于期望"), ("Far exceeded", "远超期望")),
    _scale("CS3", "Imagine ideal products and services of this kind. How close are ours to that ideal?",
           "请想象同类产品和服务的理想状态，我们的产品和服务与理想状态有多接近？", ("Very far from ideal", "与理想相差很远"), ("Very close to ideal", "非常接近理想")),
    _scale("CC1", "How strongly have you expressed dissatisfaction with our products or services (to us, to others or online)?",
           "您在多大程度上表达过对我们产品或服务的不满（向我们、向他人或在网上）？", ("Not at all", "从未表达过"), ("Very strongly", "非常强烈")),
    _choice("complained", "yesno", "In the past 12 months, have you complained to us about our products or services?",
            "在过去12个月内，您是否就我们的产品或服务向我们投诉过？", YES_NO, "complaints", required=True),
    _scale("complaint_handling", "If you complained: how well was your most recent complaint handled?",
           "如果您投诉过：您最近一次投诉的处理情况如何？", ("Very poorly", "处理得很差"), ("Very well", "处理得很好"),
           section="complaints", only_if="complained=yes"),
    _choice("complaint_cause", "multi", "If you complained: what caused your dissatisfaction? (choose all that apply)",
            "如果您投诉过：您不满的原因是什么？（可多选）", (
                ("organisation", "The organisation as a whole", "公司整体（组织管理）"),
                ("effectiveness", "How well the product or service works", "产品或服务的效用"),
                ("quality", "Quality of the product or service", "产品或服务的质量"),
                ("employee", "An individual employee", "某位员工"),
                ("systems", "Systems or procedures", "系统或流程"),
            ), "complaints", required=True, only_if="complained=yes"),
    _scale("CL1", "How likely are you to buy our products or services again?",
           "您再次购买我们产品或服务的可能性有多大？", *LIKELY),
    _scale("CL2", "How likely are you to recommend us to friends or colleagues?",
           "您向朋友或同事推荐我们的可能性有多大？", *LIKELY),
    _choice("customer_type", "choice", "Which best describes you as a customer?", "以下哪一项最符合您的客户类型？", (
        ("consumer", "Individual consumer", "个人消费者"),
        ("business", "Business", "企业客户"),
        ("public", "Government or public body", "政府或公共机构"),
    ), "about"),
    _choice("key_account", "yesno", "Are you one of our key accounts (with a dedicated account manager)?",
            "您是否是我们的大客户（有专属客户经理）？", YES_NO, "about"),
    _choice("customer_status", "choice", "Are you currently our customer?", "您目前是我们的客户吗？", (
        ("current", "Current customer", "现有客户"),
        ("former", "Former customer", "以前的客户"),
    ), "about"),
    _choice("region", "choice", "Where are you located?", "您位于哪个地区？", (
        ("north", "North China", "华北"),
        ("northeast", "North-east China", "东北"),
        ("east", "East China", "华东"),
        ("south", "South China", "华南"),
        ("central", "Central China", "华中"),
        ("west", "West China", "西部"),
        ("overseas", "Outside mainland China", "中国大陆以外"),
    ), "about"),
    _choice("channel", "choice", "How do you mainly buy from us?", "您主要通过什么渠道向我们购买？", (
        ("online", "Online or app", "网上或App"),
        ("store", "In a store or branch", "门店或网点"),
        ("sales_rep", "Through a sales representative", "销售代表"),
        ("phone", "By phone", "电话"),
        ("partner", "Through a dealer or partner", "经销商或合作伙伴"),
    ), "about"),
    _choice("tenure", "choice", "How long have you been our customer?", "您成为我们的客户有多长时间了？", (
        ("lt1", "Less than 1 year", "不到1年"),
        ("1to3", "1 to 3 years", "1至3年"),
        ("3to5", "3 to 5 years", "3至5年"),
        ("gt5", "More than 5 years", "5年以上"),
    ), "about"),
    {"code": "comment", "construct": None, "kind": "text", "section": "comment",
     "text_en": "Is there anything else you would like to tell us?", "text_zh": "您还有什么想告诉我们的吗？",
     "required": False, "allow_dont_know": False},
    # Contact details asked for here are stored apart from the answers (services.cases), never exported.
    _choice("contact_consent", "yesno", "May we contact you about your answers? If yes, leave an e-mail address or phone number below.",
            "我们可以就您的回答与您联系吗？如果可以，请在下方留下电子邮箱或电话号码。", YES_NO, "comment"),
]

AGREE = (("Strongly disagree", "完全不同意"), ("Strongly agree", "完全同意"))
# Image items after the ECSI questionnaire (ECSI Technical Committee 1998; Tenenhaus et al. 2005's IMAG1, 2, 4).
IMAGE_ITEMS = [
    _scale("IM1", "We can be trusted in what we say and do.", "我们言行一致，值得信赖。", *AGREE),
    _scale("IM2", "We are a stable and firmly established company.", "我们是一家稳定、根基扎实的企业。", *AGREE),
    _scale("IM3", "We care about our customers.", "我们关心我们的客户。", *AGREE),
]


# The variants a survey can use (model.spec.VARIANTS), as the new-survey form offers them.
MODELS = {
    "acsi": _l("ACSI: expectations, quality, value, satisfaction, complaints, loyalty"),
    "ecsi": _l("ECSI: the ACSI model plus corporate image"),
    "ccsi": _l("CCSI (China): brand image, expected quality, quality, value, satisfaction, loyalty; no complaints construct"),
}


def constructs_for(model: str):
    """Construct code -> (English, Chinese name) of one variant, in causal order."""
    return VARIANTS[check_model(model)][0]


def template(model: str = "acsi") -> list[dict]:
    """The questionnaire for one model variant: image items first under ecsi/ccsi, and only items of
    constructs the variant has (ccsi has no complaints construct, so CC1 goes; the complaint questions
    that are not model items stay, as the report's complaint figures and follow-up use them).

    :raise model.SpecificationError: unknown variant.
    """
    constructs = VARIANTS[check_model(model)][0]
    items = [item for item in TEMPLATE if item["construct"] is None or item["construct"] in constructs]
    return (IMAGE_ITEMS if "IM" in constructs else []) + items


TITLE = ("Customer satisfaction survey", "顾客满意度调查")
INTRO = (
    "Thank you for taking part. Answering takes about five minutes; there are no right or wrong answers.",
    "感谢您参与本次调查。回答大约需要五分钟，答案没有对错之分。",
)
