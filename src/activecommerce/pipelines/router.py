from activecommerce.api.routes import crud_router
from activecommerce.pipelines.service import deal_stages, deal_statuses, pipelines

routers = [
    crud_router(pipelines, "Pipelines"),
    crud_router(deal_stages, "Deal stages"),
    crud_router(deal_statuses, "Deal statuses"),
]
